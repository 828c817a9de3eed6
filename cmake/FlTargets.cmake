# Libraries and executables, one per top-level folder. Every executable lands
# in build/bin. A folder's main.c files are executables; the rest is its
# library, so tests link the same code the daemons run.

# --- proto/: protobuf-c messages, generated into the build tree -------------
file(GLOB FL_PROTOS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/proto/*.proto)
set(FL_PROTO_SRCS)
set(FL_PROTO_OUT ${CMAKE_BINARY_DIR}/proto)
file(MAKE_DIRECTORY ${FL_PROTO_OUT})
foreach(p ${FL_PROTOS})
  get_filename_component(n ${p} NAME_WE)
  add_custom_command(
    OUTPUT ${FL_PROTO_OUT}/${n}.pb-c.c ${FL_PROTO_OUT}/${n}.pb-c.h
    COMMAND ${PROTOC_C} --c_out=${FL_PROTO_OUT} -I${PROJECT_SOURCE_DIR}/proto ${p}
    DEPENDS ${p}
    COMMENT "protoc-c ${n}.proto")
  list(APPEND FL_PROTO_SRCS ${FL_PROTO_OUT}/${n}.pb-c.c)
endforeach()

# --- common/: flcommon (C) ---------------------------------------------------
file(GLOB FL_COMMON_SRCS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/common/*.c)
add_library(flcommon STATIC ${FL_COMMON_SRCS} ${FL_PROTO_SRCS})
target_include_directories(flcommon PUBLIC ${PROJECT_SOURCE_DIR}/common ${FL_PROTO_OUT})
target_link_libraries(flcommon PUBLIC
  PkgConfig::INIH PkgConfig::ISAL PkgConfig::PROTOBUFC PkgConfig::LIBUV
  PkgConfig::OPENSSL fl_erasurecode Threads::Threads m)
# Generated protobuf-c code is not ours to warn about.
set_source_files_properties(${FL_PROTO_SRCS} PROPERTIES COMPILE_OPTIONS "-Wno-unused-parameter")

# --- common/fl_dicom.cpp: the only C++ (GDCM shim) ----------------------------
file(GLOB FL_DICOM_SRCS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/common/*.cpp)
if(FL_DICOM_SRCS)
  add_library(fldicom STATIC ${FL_DICOM_SRCS})
  target_include_directories(fldicom PRIVATE ${GDCM_INCLUDE_DIRS})
  target_link_libraries(fldicom PUBLIC flcommon gdcmDSED gdcmMSFF gdcmCommon ZLIB::ZLIB)
  set(FL_DICOM_LIB fldicom)
endif()

# Helper: a folder's non-main sources become a static library NAME, each
# main_*.c / main.c becomes an executable.
function(fl_folder_library NAME DIR)
  file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${DIR}/*.c)
  list(FILTER srcs EXCLUDE REGEX "/main[^/]*\\.c$")
  if(srcs)
    add_library(${NAME} STATIC ${srcs})
    target_include_directories(${NAME} PUBLIC ${PROJECT_SOURCE_DIR}/${DIR})
    target_link_libraries(${NAME} PUBLIC ${ARGN})
    set(${NAME}_EXISTS ON PARENT_SCOPE)
  endif()
endfunction()

fl_folder_library(flnode storage-node flcommon PkgConfig::ROCKSDB)
fl_folder_library(flcoord coordinator flcommon PkgConfig::ROCKSDB)
fl_folder_library(flclient client/lib flcommon ${FL_DICOM_LIB})

# Every internal library a test or bench may need, highest level first.
set(FL_ALL_LIBS)
foreach(l flclient flcoord flnode)
  if(${l}_EXISTS)
    list(APPEND FL_ALL_LIBS ${l})
  endif()
endforeach()
list(APPEND FL_ALL_LIBS ${FL_DICOM_LIB} flcommon PkgConfig::ROCKSDB)
set(FL_ALL_LIBS ${FL_ALL_LIBS} CACHE INTERNAL "")

function(fl_main EXE SRC)
  if(EXISTS ${PROJECT_SOURCE_DIR}/${SRC})
    add_executable(${EXE} ${PROJECT_SOURCE_DIR}/${SRC})
    target_link_libraries(${EXE} PRIVATE ${FL_ALL_LIBS})
    if(FL_DICOM_LIB)
      set_target_properties(${EXE} PROPERTIES LINKER_LANGUAGE CXX)
    endif()
  endif()
endfunction()

fl_main(filmless-node storage-node/main.c)
fl_main(filmless-coord coordinator/main.c)
file(GLOB FL_CLI_SRCS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/client/cli/*.c)
if(FL_CLI_SRCS)
  add_executable(filmless ${FL_CLI_SRCS})
  target_include_directories(filmless PRIVATE ${PROJECT_SOURCE_DIR}/client/cli)
  target_link_libraries(filmless PRIVATE ${FL_ALL_LIBS})
  set_target_properties(filmless PROPERTIES LINKER_LANGUAGE CXX)
endif()
