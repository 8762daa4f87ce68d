"""Media plumbing shared by framers and streamers: packet values, fan-out, clip muxing."""
