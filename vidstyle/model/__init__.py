"""The style model: the HRNet generator, the frozen loss networks and their losses, training,
checkpoints, and the frame <-> tensor conversions the model works in."""
