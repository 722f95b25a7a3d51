"""The admission worker: lets visitors in at a controlled rate."""
