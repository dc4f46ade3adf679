"""Reading user data: tables of text and labels, image folders."""
