"""Live view over WebRTC: the camera's H.264 packets relayed to browsers as they are (never re-encoded)."""
