# Finds every dependency from its Debian package and exposes one imported
# target per library, so the rest of the build never spells a path.
find_package(PkgConfig REQUIRED)
pkg_check_modules(ROCKSDB REQUIRED IMPORTED_TARGET rocksdb)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(PROTOBUFC REQUIRED IMPORTED_TARGET libprotobuf-c)
pkg_check_modules(INIH REQUIRED IMPORTED_TARGET inih)
pkg_check_modules(ISAL REQUIRED IMPORTED_TARGET libisal)
pkg_check_modules(OPENSSL REQUIRED IMPORTED_TARGET libssl libcrypto)
find_package(Threads REQUIRED)
find_package(GDCM REQUIRED)
find_package(ZLIB REQUIRED)

# liberasurecode ships no .pc file (Debian 12).
find_path(ERASURECODE_INCLUDE_DIR erasurecode.h PATH_SUFFIXES liberasurecode REQUIRED)
find_library(ERASURECODE_LIBRARY erasurecode REQUIRED)
add_library(fl_erasurecode INTERFACE)
target_include_directories(fl_erasurecode INTERFACE ${ERASURECODE_INCLUDE_DIR})
target_link_libraries(fl_erasurecode INTERFACE ${ERASURECODE_LIBRARY})

find_program(PROTOC_C protoc-c REQUIRED)
