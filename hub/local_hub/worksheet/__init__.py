"""The daemon's side of worksheets: a worker process and the cell it runs (`supervisor`)."""
