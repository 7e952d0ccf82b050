"""Attribution: incidents -> ranked intrusion-set hypotheses with confidence and evidence."""
