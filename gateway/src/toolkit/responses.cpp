// Postern toolkit: responses (to be written).
#include "postern/postern.hpp"
