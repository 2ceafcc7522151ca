"""vfp: video next-frame prediction."""
