# sources.mk - the library's sources and packages, one list for the Makefile and tests/fuzz/Makefile
# TOP: the path of the top directory from the including Makefile, with a trailing '/'
# (empty at the top).  Every src/lib*.c goes into the archive; programs and fuzz
# targets link the archive, so each pulls in only the modules it uses.
PKGS = libcurl libcjson lmdb
LIB_SRC := $(sort $(wildcard $(TOP)src/lib*.c))
