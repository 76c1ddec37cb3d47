"""The Qt layer of jacviz: windows, views, widgets and background workers."""
