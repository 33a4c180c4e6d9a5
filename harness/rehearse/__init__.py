"""`migrate rehearse`: the newest revisions of a chain at production volume, under a live workload.

seed_bulk fills every table through binary COPY; live runs the open-model workload beside each step;
waits samples which live query waits on which statement; step measures one revision; stage walks the
window and turns the steps into gates.
"""
