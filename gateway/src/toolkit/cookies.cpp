// Postern toolkit: cookies (to be written).
#include "postern/postern.hpp"
