# Sources of the content-protection module of core: asset keys, the
# packaging transforms ingest applies, and the key service's routes.
target_sources(kino_core PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/protection.c
  ${CMAKE_CURRENT_LIST_DIR}/protection_keys.c
  ${CMAKE_CURRENT_LIST_DIR}/protection_packaging.c
  ${CMAKE_CURRENT_LIST_DIR}/key_system.c
  ${CMAKE_CURRENT_LIST_DIR}/key_system_clearkey.c)
