# Sources of the catalog, entitlement and playback-session modules of core.
target_sources(kino_core PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/catalog.c
  ${CMAKE_CURRENT_LIST_DIR}/catalog_title.c
  ${CMAKE_CURRENT_LIST_DIR}/catalog_store.c
  ${CMAKE_CURRENT_LIST_DIR}/catalog_snapshot.c
  ${CMAKE_CURRENT_LIST_DIR}/catalog_routes.c
  ${CMAKE_CURRENT_LIST_DIR}/entitlement.c
  ${CMAKE_CURRENT_LIST_DIR}/entitlement_store.c
  ${CMAKE_CURRENT_LIST_DIR}/entitlement_routes.c
  ${CMAKE_CURRENT_LIST_DIR}/user_admin_routes.c
  ${CMAKE_CURRENT_LIST_DIR}/playback_session.c
  ${CMAKE_CURRENT_LIST_DIR}/playback_session_routes.c)
