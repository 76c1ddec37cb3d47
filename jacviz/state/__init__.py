"""The app's state as plain values: the view, the lab, and the session file that saves both.

What a window shows is described here without Qt, so that sessions and settings read and
write it, and tests check it, with no screen.
"""
