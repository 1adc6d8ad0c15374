# The web front-ends' static serving (include/kino/web.h).
target_sources(kino_core PRIVATE ${CMAKE_CURRENT_LIST_DIR}/web_static.c)
