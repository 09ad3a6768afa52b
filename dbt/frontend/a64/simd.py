"""placeholder"""
ROWS = []
