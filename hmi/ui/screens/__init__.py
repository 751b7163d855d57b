"""The station's screens: live, review, alarms, login, part detail and the setup overview."""
