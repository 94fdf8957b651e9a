"""The only package that talks to torch.fx, Dynamo and AOTAutograd."""
