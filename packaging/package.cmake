# package.cmake - CPack settings for the Debian packages (see packaging/CMakeLists.txt).
# Included from the top-level CMakeLists.txt, after every install() rule is known.
#
# Library dependencies are computed, not listed: CPACK_DEBIAN_PACKAGE_SHLIBDEPS runs
# dpkg-shlibdeps (package dpkg-dev) over the binaries, which gives libpaho-mqtt1.3,
# libcoap3, libsqlite3-0, libsystemd0, ... at the versions this build needs. Only what no
# binary links is named by hand: systemd-sysusers and systemd-tmpfiles, which postinst
# runs (the alternatives debhelper uses for the same scripts).

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sensorbro)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "Sensorbro")
set(CPACK_PACKAGE_CONTACT "Sensorbro maintainers <sensorbro@example.invalid>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# each package's own description starts with its synopsis: no common one in front
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "")
# Debian ships binaries stripped; the build tree keeps the symbols.
set(CPACK_STRIP_FILES ON)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL sensorbro tools)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# maintainer scripts 0755 and conffiles 0644, whatever the checkout's modes
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_SENSORBRO_PACKAGE_NAME sensorbro)
set(CPACK_DEBIAN_SENSORBRO_PACKAGE_DEPENDS "systemd | systemd-sysusers, systemd | systemd-tmpfiles")
set(CPACK_DEBIAN_SENSORBRO_PACKAGE_SUGGESTS "mosquitto, sensorbro-tools")
set(CPACK_DEBIAN_SENSORBRO_DESCRIPTION
   "gateway daemon: sensor uplinks journaled, then published over MQTT
sensorbro receives uplinks from sensors (CoAP, LoRaWAN through Semtech UDP
packet forwarders, a LoRaWAN network server's MQTT feed), keeps each in an
SQLite journal before acknowledging it, decodes it and publishes JSON over
MQTT, for OS2iot and dashboards. Nothing acknowledged is lost to a broker
outage, a restart or a power cut.

This package holds the daemon as a hardened systemd service, its operator
tool sensorbroctl, a commented default configuration and man pages.")
set(CPACK_DEBIAN_SENSORBRO_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm
    ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles)

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME sensorbro-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_TOOLS_DESCRIPTION
   "simulated sensors and LoRaWAN modem for testing a sensorbro gateway
sensorbro-fleet-sim runs simulated sensor nodes that post uplinks over CoAP;
sensorbro-modem-sim is a LoRaWAN modem behind an AT command set that sends
real LoRaWAN frames as a Semtech UDP packet forwarder would. For trying out
and load-testing a gateway; not needed to run one.")

include(CPack)
