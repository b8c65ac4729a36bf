"""Readers and writers for the file formats thermal exchanges with other tools."""
