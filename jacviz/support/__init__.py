"""What every layer leans on, with no knowledge of maps or networks.

Reading the text and JSON users hand in (plain numbers, checked fields, short quotes),
bounded reading and safe writing of files, running untrusted work in a child process with a
time limit, and torch's thread count. Never imports Qt.
"""
