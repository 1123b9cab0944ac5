// Postern toolkit: params (to be written).
#include "postern/postern.hpp"
