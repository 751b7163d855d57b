"""Setup changes a technician makes on the running station: camera, inspection area, thresholds, models, recipes."""
