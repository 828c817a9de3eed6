# Installs libfilmless: the static libraries a program links (flclient and
# the shared code under it), the public header filmless.h with the error
# codes it includes (fl_err.h), and filmless.pc for pkg-config:
#   cc app.c $(pkg-config --cflags --libs filmless)
# Included from the top-level CMakeLists.txt after the targets exist.
include(GNUInstallDirs)
set(FL_CLIENT_VERSION 0.1.0)
set(FL_GDCM_LIBS "-lgdcmMSFF -lgdcmDSED -lgdcmCommon")
set(FL__CLIENT_LIBS flclient flcommon)
if(FL_DICOM_LIB)
  list(APPEND FL__CLIENT_LIBS ${FL_DICOM_LIB})
endif()
install(TARGETS ${FL__CLIENT_LIBS} ARCHIVE DESTINATION lib)
install(FILES ${PROJECT_SOURCE_DIR}/client/lib/filmless.h ${PROJECT_SOURCE_DIR}/common/fl_err.h
        DESTINATION include/filmless)
configure_file(${PROJECT_SOURCE_DIR}/client/filmless.pc.in ${CMAKE_BINARY_DIR}/filmless.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/filmless.pc DESTINATION lib/pkgconfig)
if(TARGET filmless)
  install(TARGETS filmless RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
