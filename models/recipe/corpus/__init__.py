"""Synthetic English speech corpus builder (text, TTS engines, augmentation, manifests)."""
