"""The map view: the input and output planes, the editor, the inspector and the layer views.

Its controller turns the user's intents into a new view state and hands the views arrays.
"""
