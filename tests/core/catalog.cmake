# Tests of the catalog, entitlement and playback-session modules.
