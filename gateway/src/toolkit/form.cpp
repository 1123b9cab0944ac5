// Postern toolkit: form (to be written).
#include "postern/postern.hpp"
