# The portable core and the nanopb runtime, as lists for the native build (firmware/) and the
# cross build (firmware/cross/). Include after NANOPB_DIR is set.
set(SB_FW_CORE_DIR ${CMAKE_CURRENT_LIST_DIR})
set(SB_FW_CORE_SOURCES
  ${SB_FW_CORE_DIR}/at_modem.c
  ${SB_FW_CORE_DIR}/at_parse.c
  ${SB_FW_CORE_DIR}/batch.c
  ${SB_FW_CORE_DIR}/config.c
  ${SB_FW_CORE_DIR}/crc32.c
  ${SB_FW_CORE_DIR}/downlink.c
  ${SB_FW_CORE_DIR}/hex.c
  ${SB_FW_CORE_DIR}/node.c
  ${SB_FW_CORE_DIR}/nvm.c
  ${SB_FW_CORE_DIR}/sample_store.c
  ${SB_FW_CORE_DIR}/trace.c
  ${SB_FW_CORE_DIR}/uplink.c)
set(SB_NANOPB_SOURCES ${NANOPB_DIR}/pb_common.c ${NANOPB_DIR}/pb_encode.c ${NANOPB_DIR}/pb_decode.c)
# The smallest nanopb that serves the schema: no error strings, no 64-bit types (the schema
# has none), memory buffers only (field callbacks still work).
set(SB_NANOPB_DEFINITIONS PB_NO_ERRMSG=1 PB_WITHOUT_64BIT=1 PB_BUFFER_ONLY=1)
