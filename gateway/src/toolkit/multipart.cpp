// Postern toolkit: multipart (to be written).
#include "postern/postern.hpp"
