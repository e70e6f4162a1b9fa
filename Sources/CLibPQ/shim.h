#ifndef CLIBPQ_SHIM_H
#define CLIBPQ_SHIM_H
#include <libpq-fe.h> /* found through pkg-config libpq: -I/usr/include/postgresql */
#endif
