// Postern toolkit: body_stream (to be written).
#include "postern/postern.hpp"
