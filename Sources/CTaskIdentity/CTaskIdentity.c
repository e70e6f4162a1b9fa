// The header's inline function is the whole module; SwiftPM wants a source file in a C target.
#include "CTaskIdentity.h"
