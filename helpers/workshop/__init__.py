"""The workshop layer: one emulator for the room, and every learner's progress for the instructor."""
