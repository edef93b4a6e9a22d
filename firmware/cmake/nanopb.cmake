# sb_nanopb_generate(OUT_DIR OPTIONS_FILE): generates sensorbro/v1/telemetry.pb.{c,h} from
# proto/ into OUT_DIR with nanopb's generator (a host tool, so cross builds use it too).
# Needs NANOPB_GENERATOR and SB_REPO_DIR.
function(sb_nanopb_generate out_dir options)
  set(proto_dir ${SB_REPO_DIR}/proto)
  set(proto ${proto_dir}/sensorbro/v1/telemetry.proto)
  add_custom_command(
    OUTPUT ${out_dir}/sensorbro/v1/telemetry.pb.c ${out_dir}/sensorbro/v1/telemetry.pb.h
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${NANOPB_GENERATOR} -q -I ${proto_dir} -D ${out_dir} -f ${options} ${proto}
    DEPENDS ${proto} ${options}
    COMMENT "nanopb: telemetry.proto with ${options}"
    VERBATIM)
endfunction()
