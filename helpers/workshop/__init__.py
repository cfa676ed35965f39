"""Layer 6, the workshop: one emulator for the room, and every learner's progress for the instructor."""
