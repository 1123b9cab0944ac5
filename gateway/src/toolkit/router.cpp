// Postern toolkit: router (to be written).
#include "postern/postern.hpp"
