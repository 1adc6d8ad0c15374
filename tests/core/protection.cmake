# Tests of the content-protection module: the key service over HTTP with a
# FerretDB of its own (integration), and the packaging transforms and keys
# alone (unit).
kino_add_test(NAME core_protection SOURCES test_protection.c LABEL integration
              LIBS kino_core TIMEOUT 120)
kino_add_test(NAME core_protection_unit SOURCES test_protection_unit.c LABEL unit
              LIBS kino_core)
target_include_directories(core_protection_unit PRIVATE ${PROJECT_SOURCE_DIR}/core)
# Protected playback in chromium: dash.js + EME ClearKey, hls.js + AES-128
# (tests/core/protection_browser.mjs; needs web/node_modules and chromium).
kino_add_test(NAME core_protection_browser SOURCES test_protection_browser.c LABEL browser
              LIBS kino_ingest kino_core TIMEOUT 300)
