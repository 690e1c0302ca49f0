"""Index backends (interface, factory, local and Qdrant), versioned folders, and the build."""
