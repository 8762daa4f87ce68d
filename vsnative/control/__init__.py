"""Control plane: camera store, agent pool (the manager and monitor build on these seams)."""
