# Sources of the catalog, entitlement and playback-session modules of core.
target_sources(kino_core PRIVATE)
