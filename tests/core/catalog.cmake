# Tests of the catalog, entitlement and playback-session modules.
kino_add_test(NAME core_catalog_unit SOURCES test_catalog_unit.c LABEL unit LIBS kino_core)
target_include_directories(core_catalog_unit PRIVATE ${PROJECT_SOURCE_DIR}/core)
kino_add_test(NAME core_entitlement_unit SOURCES test_entitlement_unit.c LABEL unit LIBS kino_core)
kino_add_test(NAME core_catalog_playback SOURCES test_playback.c LABEL integration LIBS kino_core TIMEOUT 120)
