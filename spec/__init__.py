"""The environment spec (what a user asks for) and the outputs contract (what a target produced)."""
