"""Sliced score matching: SSM and SSM-VR (Song, Garg, Shi & Ermon 2019)."""
