"""Live code on the hub's side: worksheets, terminals, Jupyter, and what projects push."""
