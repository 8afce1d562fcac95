"""nbgrader configuration of the scaledrop course (run nbgrader with this folder as cwd).

The course directory is the folder holding this file, wherever it is copied: assignments are
authored in source/<name>/<name>.ipynb, `nbgrader generate_assignment` writes the student
versions to release/, submissions go to submitted/<student>/<name>/, and autograde and
feedback write autograded/ and feedback/. gradebook.db is nbgrader's own database.
"""

import os

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "scaledrop"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"

# Each notebook runs in well under a minute on one CPU thread; a cell that hangs is cut off.
c.Execute.timeout = 300
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
