"""Device profiles and the transports that reach them (local, SSH, adb). May import only the ground floor."""
