"""The app around the views: the main window, sessions, start-up, and rendering headless."""
