// Postern toolkit: files (to be written).
#include "postern/postern.hpp"
